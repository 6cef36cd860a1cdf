/** A JID cut into its bare part (lowercased, as XMPP compares them) and its resource. */
export interface Address {
  bare: string;
  resource: string | undefined;
}

export function splitJid(jid: string): Address {
  const slash = jid.indexOf("/");
  return slash < 0 ? { bare: jid.toLowerCase(), resource: undefined } : { bare: jid.slice(0, slash).toLowerCase(), resource: jid.slice(slash + 1) };
}
