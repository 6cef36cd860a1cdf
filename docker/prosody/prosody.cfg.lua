-- Prosody for docker-compose.yml, after scripts/stack/prosody.cfg.lua.template, the test stack's. Replace
-- xmpp.example.org with your XMPP domain everywhere (docs/install.md says what each part is for).
pidfile = "/var/lib/prosody/prosody.pid"
data_path = "/var/lib/prosody"
-- Certificates for xmpp.example.org and its subdomains (see docs/install.md, "A public component"); mounted from
-- docker/prosody/certs.
certificates = "certs"
log = { { levels = { min = "info" }, to = "console" } }

interfaces = { "*" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
-- The component port: only the bridge connects, over the compose network. The secret is all that guards it.
component_ports = { 5347 }
component_interfaces = { "0.0.0.0" }
http_ports = { 5280 }
http_interfaces = { "*" }
-- Where XMPP clients fetch uploaded files: your reverse proxy in front of port 5280.
http_external_url = "https://upload.xmpp.example.org/"

modules_enabled = {
  "roster"; "saslauth"; "tls"; "dialback"; "disco"; "carbons"; "pep"; "vcard_legacy"; "vcard4"; "private";
  "bookmarks"; "blocklist"; "ping"; "time"; "version"; "uptime"; "mam";
}

authentication = "internal_hashed"
storage = "internal"
default_archive_policy = true
archive_expires_after = "1w"

VirtualHost "xmpp.example.org"

-- The bridge: the same domain as its xmpp.domain; the secret comes from the environment (.env), as the bridge's
-- XMPP_PASSWORD does.
Component "matrix.xmpp.example.org"
  component_secret = ENV_XMPP_COMPONENT_SECRET

Component "conference.xmpp.example.org" "muc"
  modules_enabled = { "muc_mam", "muc_moderation", "vcard_muc" }
  muc_log_by_default = true

Component "upload.xmpp.example.org" "http_file_share"
  http_file_share_size_limit = 100 * 1024 * 1024
  http_file_share_daily_quota = 10 * 1024 * 1024 * 1024
