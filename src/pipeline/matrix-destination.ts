/** Where an XMPP conversation's messages go on Matrix: the room, the ghost writing there, and the message map's conversation key. */
export interface MatrixDestination {
  roomId: string;
  ghost: string;
  conversation: string;
}
