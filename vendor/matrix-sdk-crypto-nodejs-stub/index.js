"use strict";
// Every export is a stand-in that may be looked up (the library reads a few names while it loads)
// but throws as soon as anything is called or constructed: encryption is not supported by this bridge.
function unavailable(path) {
  const fail = () => {
    throw new Error(`end-to-end encryption is not available in matrix-xmpp-bridge (tried to use ${path})`);
  };
  return new Proxy(function stub() {}, {
    get: (_target, key) => (typeof key === "symbol" ? undefined : unavailable(`${path}.${key}`)),
    apply: fail,
    construct: fail,
  });
}
module.exports = new Proxy({}, {
  get: (_target, key) => (typeof key === "symbol" || key === "__esModule" || key === "then" ? undefined : unavailable(key)),
});
