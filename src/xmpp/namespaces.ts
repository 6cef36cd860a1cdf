/** XML namespaces the component speaks, named once. */
export const NS = {
  discoInfo: "http://jabber.org/protocol/disco#info",
  discoItems: "http://jabber.org/protocol/disco#items",
  ping: "urn:xmpp:ping",
  version: "jabber:iq:version",
  muc: "http://jabber.org/protocol/muc",
  mucUser: "http://jabber.org/protocol/muc#user",
  stanzaId: "urn:xmpp:sid:0",
  chatStates: "http://jabber.org/protocol/chatstates",
  delay: "urn:xmpp:delay",
  stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
  occupantId: "urn:xmpp:occupant-id:0",
  nick: "http://jabber.org/protocol/nick",
} as const;
