/** A Matrix file cannot be shared with XMPP users this way (too big, unknown size, refused by the XMPP server). */
export class FileShareError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileShareError";
  }
}
