import { parseArgs } from "node:util";
import { startBridge, type RunningBridge } from "./bridge.js";
import { configChanges } from "./config/reload.js";
import { ConfigError, loadConfig } from "./config/load.js";
import { createLogger, setLogLevel, type Logger } from "./log.js";
import { buildRegistration, checkRegistration, readRegistration, RegistrationError, writeRegistration, type Registration } from "./matrix/registration.js";
import type { BridgeConfig } from "./config/schema.js";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.js";

const USAGE = `${SOFTWARE_NAME} ${SOFTWARE_VERSION}: a bridge between Matrix and XMPP

Write the appservice registration for the homeserver:
  ${SOFTWARE_NAME} -r -u URL -c config.yaml -f registration.yaml [--force]
Run the bridge:
  ${SOFTWARE_NAME} -c config.yaml -f registration.yaml [-p PORT]

Options:
  -c, --config FILE                 the bridge's config (see config.sample.yaml)
  -f, --file FILE                   the registration file (default: registration.yaml)
  -r, --generate-registration       write the registration file and exit
  -u, --url URL                     with -r: where the homeserver reaches the bridge, e.g. http://127.0.0.1:9000
      --force                       with -r: replace an existing registration file (new tokens)
  -p, --port PORT                   the appservice port, overriding appservice.port
  -h, --help                        this text
  -v, --version                     the version

Environment: XMPP_PASSWORD (the component secret), AS_TOKEN and HS_TOKEN (the registration's tokens)
win over the files. SIGHUP reloads bridge.permissions and logging.level from the config file.`;

class UsageError extends Error {}

function portNumber(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`-p must be a port number, not ${text}`);
  return port;
}

/**
 * On SIGHUP: reads the config file again and applies what may change while running; a config that
 * cannot be used is logged and the running one kept. Returns the config now in force.
 */
async function reloadConfig(file: string, portOverride: number | undefined, running: BridgeConfig, bridge: RunningBridge, log: Logger): Promise<BridgeConfig> {
  let read: BridgeConfig;
  try {
    read = await loadConfig(file);
  } catch (err) {
    log.error({ err }, "SIGHUP: the config file cannot be used; the running config stays in force");
    return running;
  }
  if (portOverride !== undefined) read.appservice.port = portOverride;
  const { reloaded, needRestart, applied } = configChanges(running, read);
  bridge.reload(applied);
  setLogLevel(log, applied.logging.level);
  log.info({ reloaded }, reloaded.length > 0 ? `SIGHUP: reloaded ${reloaded.join(", ")}` : "SIGHUP: nothing to reload");
  if (needRestart.length > 0) log.warn({ needRestart }, `SIGHUP: changed but applied only after a restart: ${needRestart.join(", ")}`);
  return applied;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/** Logs where the registration and the config disagree; refuses to start where the bridge cannot work. */
function checkAgainstConfig(registration: Registration, file: string, config: BridgeConfig, configFile: string, log: Logger): void {
  const mismatches = checkRegistration(registration, config);
  for (const m of mismatches.filter((m) => m.severity === "warning")) log.warn({ registration: file }, `the registration and the config differ: ${m.message}`);
  const errors = mismatches.filter((m) => m.severity === "error").map((m) => m.message);
  if (errors.length > 0) throw new RegistrationError(`${file} does not fit ${configFile}:\n  ${errors.join("\n  ")}`, file);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      file: { type: "string", short: "f", default: "registration.yaml" },
      "generate-registration": { type: "boolean", short: "r" },
      url: { type: "string", short: "u" },
      force: { type: "boolean" },
      port: { type: "string", short: "p" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
    strict: true,
  });
  if (values.help) return console.log(USAGE), 0;
  if (values.version) return console.log(SOFTWARE_VERSION), 0;
  if (!values.config) throw new UsageError("a config file is needed: -c config.yaml");
  const config = await loadConfig(values.config);

  if (values["generate-registration"]) {
    if (!values.url) throw new UsageError("-r needs the URL the homeserver reaches the bridge at: -u http://127.0.0.1:9000");
    if (!isHttpUrl(values.url)) throw new UsageError(`-u must be an http:// or https:// URL, e.g. http://127.0.0.1:9000, not ${values.url}`);
    await writeRegistration(values.file, buildRegistration(config, values.url), values.force);
    console.log(`wrote ${values.file}: add it to the homeserver's app_service_config_files and restart the homeserver`);
    return 0;
  }

  const portOverride = values.port === undefined ? undefined : portNumber(values.port);
  if (portOverride !== undefined) config.appservice.port = portOverride;
  const log = createLogger(config.logging);
  const registration = await readRegistration(values.file);
  checkAgainstConfig(registration, values.file, config, values.config, log);

  // SIGHUP re-reads the config; until the bridge runs there is nothing to apply it to (and it must not kill the process).
  let reload = (): void => log.warn("SIGHUP during start-up: ignored");
  process.on("SIGHUP", () => reload());
  let bridge: RunningBridge;
  try {
    bridge = await startBridge(config, registration, log);
  } catch (err) {
    log.fatal({ err }, "the bridge could not start");
    return 1;
  }
  const configFile = values.config;
  let running = config;
  let reloading = Promise.resolve();
  reload = () => {
    reloading = reloading
      .then(async () => {
        running = await reloadConfig(configFile, portOverride, running, bridge, log);
      })
      .catch((err: Error) => log.error({ err }, "SIGHUP: reloading failed; the running config stays in force"));
  };

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (code: number) => {
      if (stopping) {
        log.warn("second signal: exiting at once");
        process.exit(1);
      }
      stopping = true;
      bridge.stop().then(() => resolve(code), (err: Error) => {
        log.error({ err }, "error while stopping");
        resolve(1);
      });
    };
    process.on("SIGTERM", () => shutdown(0));
    process.on("SIGINT", () => shutdown(0));
    void bridge.fatal.then((err) => {
      log.fatal({ err }, "stopping: a part the bridge needs failed for good");
      shutdown(1);
    });
  });
}

// Exits explicitly: the Matrix library keeps timers of its own that would hold the process open.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    if (err instanceof ConfigError || err instanceof UsageError || err.name === "RegistrationError" || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`${SOFTWARE_NAME}: ${err.message}`);
      if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) console.error(`Try --help.`);
      process.exit(2);
    }
    console.error(`${SOFTWARE_NAME}: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
