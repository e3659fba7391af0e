// Generated from core/src/app/ipc.rs (the IPC contract, docs/IPC.md) by ts-rs.
// Do not edit: change the Rust types and run `UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types`.

/**
 * `ProxyState` in the contract.
 */
export type ProxyState = "running" | "stopped" | "error";

/**
 * Who is signed in (`plan` stays `null`: Cursor's `GetMe` does not name the plan).
 */
export type Account = { 
/**
 * The account's email from Cursor's `GetMe`; `null` when Cursor sent none.
 */
email: string | null, 
/**
 * The plan's name; always `null` for now (see above).
 */
plan: string | null, };

/**
 * The proxy part of [`Status`].
 */
export type ProxyStatus = { 
/**
 * Whether the proxy is listening.
 */
state: ProxyState, 
/**
 * The address it listens on when running, else the one it would bind (setting `host`).
 */
host: string, 
/**
 * The port it listens on when running, else the one it would bind (setting `port`).
 */
port: number, 
/**
 * `http://<host>:<port>/v1`, what OpenAI clients are given.
 */
baseUrl: string, 
/**
 * Why the proxy is in `error` (a sentence for the user).
 */
error: string | null, };

/**
 * What the tray and the UI render; sent with every `status-changed` event.
 */
export type Status = { 
/**
 * Credentials are stored and the session has not been found expired.
 */
signedIn: boolean, 
/**
 * Who is signed in; `null` when signed out or not fetched yet.
 */
account: Account | null, 
/**
 * Where the proxy is and whether it runs.
 */
proxy: ProxyStatus, 
/**
 * Read back from the OS, never remembered.
 */
launchAtLogin: boolean, 
/**
 * Cursor Bridge's own version (the core crate's `CARGO_PKG_VERSION`).
 */
version: string, 
/**
 * The git commit it was built from (short hash, `unknown` outside a checkout).
 */
commit: string, 
/**
 * The `x-cursor-client-version` Cursor is sent, and where it came from.
 */
clientVersion: ClientVersion, 
/**
 * The browser sign-in waiting for approval, if any.
 */
signIn: SignInProgress | null, 
/**
 * The spend guard at a glance (the full picture is `guard_status`).
 */
guard: GuardSummary, };

/**
 * A browser sign-in waiting for approval (`None` when there is none).
 */
export type SignInProgress = { 
/**
 * Attempt number, new per `sign_in` call.
 */
attempt: number, 
/**
 * When it started, Unix milliseconds.
 */
startedUnixMs: number, };

/**
 * What the tray and the status line need of the guard: re-published on every trip,
 * pause and resume.
 */
export type GuardSummary = { 
/**
 * "Pause all" is on: every request is refused until resumed.
 */
paused: boolean, 
/**
 * The rules that tripped and are not resumed yet (setting keys, e.g.
 * `guard_repeat_limit`), oldest first.
 */
tripped: Array<string>, };

/**
 * The Cursor client version in use (reference §9.10).
 */
export type ClientVersion = { 
/**
 * e.g. `cli-2026.07.23-e383d2b`.
 */
version: string, 
/**
 * `setting`, `installed_cli`, `installer` or `built_in`.
 */
source: VersionSource, 
/**
 * The source in words, e.g. "newest installed Cursor CLI".
 */
sourceLabel: string, };

/**
 * Where the version in use came from.
 */
export type VersionSource = "setting" | "installed_cli" | "installer" | "built_in";

/**
 * One model, as the UI lists it.
 */
export type Model = { 
/**
 * What clients ask for (Cursor's display id, falling back to the wire id).
 */
id: string, 
/**
 * Human-readable name.
 */
name: string, 
/**
 * Other ids Cursor accepts for it.
 */
aliases: Array<string>, 
/**
 * The model reasons (Cursor sent `thinking_details`).
 */
reasoning: boolean, 
/**
 * Whether it takes images; `null` when not known.
 */
supportsImages: boolean | null, 
/**
 * Context window, in tokens.
 */
contextLimit: number, 
/**
 * Output limit, in tokens.
 */
outputLimit: number, 
/**
 * Where the two limits came from: `cursor`, `known_family` or `default`.
 */
limitSource: LimitSource, };

/**
 * Where a model's limits came from.
 */
export type LimitSource = "cursor" | "known_family" | "default";

/**
 * How an agent run reaches Cursor (setting `agent_transport`, reference §3.2–3.3).
 */
export type AgentTransport = "http2" | "http1";

/**
 * `Settings` in the contract: the few settings the UI edits. Everything else stays in
 * `settings.toml` for people who need it.
 */
export type Settings = { 
/**
 * The address the proxy binds to, as text (setting `host`, default `127.0.0.1`); a
 * non-loopback one needs `allow_non_loopback` in `settings.toml`.
 */
host: string, 
/**
 * The port the proxy listens on (setting `port`, default 18741).
 */
port: number, 
/**
 * The model used when a client sends none (setting `default_model`, default `auto`).
 */
defaultModel: string, 
/**
 * The tray app starts the proxy when it starts (setting `start_proxy_on_launch`,
 * default on).
 */
startProxyOnLaunch: boolean, 
/**
 * Clients must send the local API key as `Authorization: Bearer …` (setting
 * `require_api_key`, default on).
 */
requireApiKey: boolean, 
/**
 * How agent runs reach Cursor: `"http2"` or `"http1"` (setting `agent_transport`).
 * Text, not the enum, so an unknown value is an `invalid_input` naming the field
 * (like `host`) rather than a deserialization failure outside the contract.
 */
agentTransport: AgentTransport, 
/**
 * The spend guard's master switch (setting `guard_enabled`, default on).
 */
guardEnabled: boolean, 
/**
 * The same tool call this many times in a row trips the guard (setting
 * `guard_repeat_limit`, default 5).
 */
guardRepeatLimit: number, 
/**
 * Tool steps in one user turn (setting `guard_max_tool_steps`, default 100).
 */
guardMaxToolSteps: number, 
/**
 * Requests per rolling minute (setting `guard_requests_per_minute`, default 120).
 */
guardRequestsPerMinute: number, 
/**
 * Requests per local day, 0 = off (setting `guard_daily_requests`).
 */
guardDailyRequests: number, 
/**
 * Tokens per local day, 0 = off (setting `guard_daily_tokens`).
 */
guardDailyTokens: number, 
/**
 * Once Cursor bills on demand: allow, warn (one notification) or block (setting
 * `guard_on_demand`, default warn).
 */
guardOnDemand: OnDemand, };

/**
 * `guard_on_demand`: what the guard does once requests would be billed on demand.
 */
export type OnDemand = "allow" | "warn" | "block";

/**
 * What the guard shows (tray, UI, `/health`, `cursor-bridge guard status`).
 */
export type GuardStatus = { 
/**
 * The rules in force.
 */
rules: GuardRules, 
/**
 * Everything is refused until resumed.
 */
paused: boolean, 
/**
 * Trips not yet resumed, oldest first.
 */
trips: Array<GuardTrip>, 
/**
 * The local calendar day the counts are for (`YYYY-MM-DD`).
 */
day: string, 
/**
 * Requests today.
 */
requestsToday: number, 
/**
 * Tokens today (prompt + completion, where known).
 */
tokensToday: number, 
/**
 * Requests in the last minute.
 */
requestsLastMinute: number, 
/**
 * Cursor's plan usage says requests are billed on demand now.
 */
onDemand: boolean, };

/**
 * The rules, as the settings give them.
 */
export type GuardRules = { 
/**
 * `guard_enabled`.
 */
enabled: boolean, 
/**
 * `guard_repeat_limit`.
 */
repeatLimit: number, 
/**
 * `guard_max_tool_steps`.
 */
maxToolSteps: number, 
/**
 * `guard_requests_per_minute`.
 */
requestsPerMinute: number, 
/**
 * `guard_daily_requests` (0 = off).
 */
dailyRequests: number, 
/**
 * `guard_daily_tokens` (0 = off).
 */
dailyTokens: number, 
/**
 * `guard_on_demand`.
 */
onDemand: OnDemand, };

/**
 * One time a rule refused a request, with its numbers.
 */
export type GuardTrip = { 
/**
 * The rule.
 */
rule: GuardRule, 
/**
 * What the agent was told.
 */
message: string, 
/**
 * When, Unix milliseconds.
 */
atMs: number, 
/**
 * The count that tripped it (calls in a row, steps, requests, tokens).
 */
count: number, 
/**
 * The limit it reached.
 */
limit: number, 
/**
 * Refusals since the trip (the first one included).
 */
refused: number, };

/**
 * Which rule refused a request.
 */
export type GuardRule = "paused" | "repeatLimit" | "maxToolSteps" | "requestsPerMinute" | "dailyRequests" | "dailyTokens" | "onDemand";

/**
 * A report's time range: `24h`, `7d` or `30d` on the wire.
 */
export type Range = "24h" | "7d" | "30d";

/**
 * The width of one series bucket (UTC-aligned).
 */
export type Bucket = "hour" | "day";

/**
 * Sums over a whole range.
 */
export type UsageTotals = { 
/**
 * Requests recorded in the range, failed ones included.
 */
requests: number, 
/**
 * Requests that failed: an error kind, or an HTTP status ≥ 400.
 */
errors: number, 
/**
 * Prompt tokens, cache reads included (OpenAI's convention); estimates count too.
 */
promptTokens: number, 
/**
 * Completion tokens, reasoning tokens included.
 */
completionTokens: number, 
/**
 * Sums over the rows that know them (Cursor's count); part of `prompt_tokens`.
 */
cacheReadTokens: number, 
/**
 * Prompt tokens written to Cursor's cache, from the rows Cursor counted.
 */
cacheWriteTokens: number, 
/**
 * Part of `completion_tokens`.
 */
reasoningTokens: number, 
/**
 * Requests whose token counts are our estimate rather than Cursor's count.
 */
estimatedRequests: number, };

/**
 * One bucket × model.
 */
export type UsagePoint = { 
/**
 * Start of the bucket, Unix milliseconds (UTC-aligned).
 */
bucketStart: number, 
/**
 * The model the requests named.
 */
model: string, 
/**
 * Requests for this model in this bucket, failed ones included.
 */
requests: number, 
/**
 * Of those, the ones that failed (as in `UsageTotals::errors`).
 */
errors: number, 
/**
 * Prompt tokens, cache reads included.
 */
promptTokens: number, 
/**
 * Completion tokens, reasoning tokens included.
 */
completionTokens: number, 
/**
 * Prompt tokens read from Cursor's cache, from the rows Cursor counted.
 */
cacheReadTokens: number, 
/**
 * Prompt tokens written to Cursor's cache, from the rows Cursor counted.
 */
cacheWriteTokens: number, 
/**
 * Completion tokens spent on reasoning, from the rows Cursor counted.
 */
reasoningTokens: number, 
/**
 * Requests in this bucket whose token counts are estimates.
 */
estimatedRequests: number, };

/**
 * Usage over a range, shaped exactly as `UsageReport` in `docs/IPC.md`.
 */
export type UsageReport = { 
/**
 * The range asked for.
 */
range: Range, 
/**
 * The width of the `series` buckets, set by the range.
 */
bucket: Bucket, 
/**
 * When the report was made, Unix milliseconds: the end of the window.
 */
generatedAt: number, 
/**
 * Sums over every request in the range.
 */
totals: UsageTotals, 
/**
 * Sums per bucket × model; sparse (only pairs with requests), by bucket then model.
 */
series: Array<UsagePoint>, 
/**
 * Latency percentiles of the successful requests in the range.
 */
latency: Latency, 
/**
 * Failed requests per kind, most frequent first (ties by kind).
 */
errorsByKind: Array<ErrorCount>, 
/**
 * False when some token counts in the range are estimates.
 */
tokensExact: boolean, 
/**
 * Sums per bucket × dialect (`key` is `chat`, `messages` or `responses`); sparse, by
 * bucket then dialect.
 */
seriesByDialect: Array<SplitPoint>, 
/**
 * Sums per bucket × client (`key` is the client's name, `null` when the request said
 * none); sparse, by bucket then client (unknown first).
 */
seriesByClient: Array<SplitPoint>, 
/**
 * Sums per dialect over the range, most requests first (ties by key).
 */
byDialect: Array<SplitUsage>, 
/**
 * Sums per client over the range, most requests first (ties by key, unknown first).
 */
byClient: Array<SplitUsage>, };

/**
 * One bucket × dialect or × client: the numbers the charts stack.
 */
export type SplitPoint = { 
/**
 * Start of the bucket, Unix milliseconds (UTC-aligned).
 */
bucketStart: number, 
/**
 * The dialect or the client; `None` (`null`) for requests from an unknown client.
 */
key: string | null, 
/**
 * Requests in this bucket, failed ones included.
 */
requests: number, 
/**
 * Of those, the ones that failed (as in `UsageTotals::errors`).
 */
errors: number, 
/**
 * Prompt tokens, cache reads included.
 */
promptTokens: number, 
/**
 * Completion tokens, reasoning tokens included.
 */
completionTokens: number, };

/**
 * One dialect's or client's sums over a report's range (the "by client" table).
 */
export type SplitUsage = { 
/**
 * The dialect or the client; `None` (`null`) for requests from an unknown client.
 */
key: string | null, 
/**
 * Requests over the range, failed ones included.
 */
requests: number, 
/**
 * Of those, the ones that failed.
 */
errors: number, 
/**
 * Prompt tokens, cache reads included.
 */
promptTokens: number, 
/**
 * Completion tokens, reasoning tokens included.
 */
completionTokens: number, 
/**
 * Requests whose token counts are estimates.
 */
estimatedRequests: number, };

/**
 * Nearest-rank percentiles of successful requests; `None` (`null`) without samples.
 */
export type Latency = { 
/**
 * Median time to first token, milliseconds.
 */
ttftP50Ms: number | null, 
/**
 * 95th-percentile time to first token, milliseconds.
 */
ttftP95Ms: number | null, 
/**
 * Median time from arrival to the end of the answer, milliseconds.
 */
totalP50Ms: number | null, 
/**
 * 95th-percentile time from arrival to the end of the answer, milliseconds.
 */
totalP95Ms: number | null, };

/**
 * How many errors of one kind.
 */
export type ErrorCount = { 
/**
 * The error kind (e.g. `quota`), or `http_<status>` for a failure without one.
 */
kind: string, 
/**
 * How many requests in the range failed this way.
 */
count: number, };

/**
 * Cursor's own plan numbers for the billing cycle (they lag real use by about a minute).
 * A figure Cursor did not send is `null`, never 0 (reference §9.11).
 */
export type PlanUsage = { 
/**
 * Spent against the plan this cycle, in cents (Cursor's `totalSpend`); `null` when
 * Cursor sent no money figures.
 */
spentCents: number | null, 
/**
 * The plan's limit; `null` when Cursor sent none (or 0).
 */
includedCents: number | null, 
/**
 * What is left of the limit, in cents (Cursor's `remaining`); `null` without a limit.
 */
remainingCents: number | null, 
/**
 * Share of the whole plan used, %: Cursor's `totalPercentUsed`, else computed from
 * the cents when there is a limit.
 */
totalPercentUsed: number | null, 
/**
 * Both pools (Auto + Composer, API models) when Cursor reports either; else empty.
 */
pools: Array<PlanPool>, 
/**
 * When the billing cycle began, Unix milliseconds; `null` when Cursor did not say.
 */
cycleStart: number | null, 
/**
 * When the billing cycle ends, Unix milliseconds; `null` when Cursor did not say.
 */
cycleEnd: number | null, 
/**
 * When we asked Cursor for these numbers, Unix milliseconds.
 */
fetchedAt: number, };

/**
 * One pool of the plan.
 */
export type PlanPool = { 
/**
 * `auto` or `api`.
 */
id: string, 
/**
 * How Cursor's dashboard names it: "Auto + Composer" or "API models".
 */
label: string, 
/**
 * Share of the pool used, %; `null` when Cursor did not report this pool.
 */
percentUsed: number | null, };

/**
 * One failed request, for the UI's error list (`RecentError` in `docs/IPC.md`).
 */
export type RecentError = { 
/**
 * When the request started, Unix milliseconds.
 */
at: number, 
/**
 * The error kind, as in `ErrorCount::kind`.
 */
kind: string, 
/**
 * The API the request spoke (`chat`, `messages`, `responses`).
 */
dialect: string, 
/**
 * The client that sent it, `None` (`null`) when unknown.
 */
client: string | null, 
/**
 * A sentence for the user, built from the kind, model and status (the ledger stores
 * no free text, so no prompt or secret can end up here).
 */
message: string, };

/**
 * The OpenCode provider block, pretty-printed, and the base URL it points at.
 */
export type OpencodeSnippet = { 
/**
 * The provider block as pretty-printed JSON, with the live models and the local API
 * key, ready to paste into OpenCode's config.
 */
text: string, 
/**
 * The proxy's `http://<host>:<port>/v1` the block points at.
 */
baseUrl: string, };

/**
 * What a write did. Over IPC this is `OpencodeInstall` (docs/IPC.md).
 */
export type OpencodeInstall = { 
/**
 * The file written; when the given path is a symlink, the file it points to.
 */
path: string, 
/**
 * The copy of the previous contents. `None` when the file was created, and when it
 * already held exactly this block: then nothing was written at all.
 */
backup: string | null, 
/**
 * The file did not exist and was created (mode 0600 on unix: it holds our key).
 */
created: boolean, };

/**
 * A client we can connect. Over IPC `"opencode"`, `"claude-code"`, `"codex"`.
 */
export type Client = "opencode" | "claude-code" | "codex";

/**
 * Which of OpenCode's config shapes to write.
 */
export type OpencodeShape = "v1" | "v2";

/**
 * What the web UI may choose when connecting a client. Over IPC `ConnectChoice` (every
 * field optional). No paths: the window edits only the client's own config file, with
 * the key itself rather than a program to run (a page that could name a file or a program
 * would reach anything the user can write or run); `ConnectOptions` with those stays for
 * the CLI. A field outside these three is refused, not ignored.
 */
export type ConnectChoice = { 
/**
 * Only compute the diff; write nothing.
 */
dryRun: boolean, 
/**
 * Also make us the client's default provider where that is a separate setting
 * (Codex's top-level `model_provider` and `model`).
 */
setDefault: boolean, 
/**
 * OpenCode's config shape; `null` asks the installed `opencode --version`.
 */
opencodeShape: OpencodeShape | null, };

/**
 * What a connect did (or, dry, would do). Over IPC `ConnectReport` (docs/IPC.md).
 */
export type ConnectReport = { 
/**
 * The client.
 */
client: Client, 
/**
 * The config file (symlinks followed).
 */
path: string, 
/**
 * The unified diff of the change, the key replaced by `<local API key>`; empty when
 * the file already holds exactly this.
 */
diff: string, 
/**
 * The copy of the previous contents, when a file was replaced.
 */
backup: string | null, 
/**
 * The file did not exist (and was, unless dry, created).
 */
created: boolean, 
/**
 * Nothing was written: a dry run.
 */
dryRun: boolean, 
/**
 * What the user should know or do next.
 */
notes: Array<string>, };

/**
 * What a disconnect did. Over IPC `DisconnectReport`.
 */
export type DisconnectReport = { 
/**
 * The client.
 */
client: Client, 
/**
 * The config file; `null` when it was never connected.
 */
path: string | null, 
/**
 * The copy of the file before disconnect changed it.
 */
backup: string | null, 
/**
 * The file was put back byte for byte (nothing had changed it since connect).
 */
restoredExactly: boolean, 
/**
 * The file was removed: connect had created it and nothing else is in it.
 */
removed: boolean, 
/**
 * What was left alone and why.
 */
notes: Array<string>, };

/**
 * One client's connection as it stands. Over IPC `ConnectionStatus`.
 */
export type ConnectionStatus = { 
/**
 * The client.
 */
client: Client, 
/**
 * Its name, for display.
 */
name: string, 
/**
 * Where its config is (or would be); `null` when no variable locates it.
 */
path: string | null, 
/**
 * Connect wrote it and our values are still there.
 */
connected: boolean, 
/**
 * Connected, but to another port or key than this proxy's now: connect again.
 */
stale: boolean, };

/**
 * A client's paste-ready snippet. Over IPC `ClientSnippet`.
 */
export type ClientSnippet = { 
/**
 * The client.
 */
client: Client, 
/**
 * The snippet (JSON for OpenCode and Claude Code, TOML for Codex), with the key.
 */
text: string, 
/**
 * Where it goes.
 */
path: string | null, 
/**
 * How to use it.
 */
notes: Array<string>, };

/**
 * The kinds of `docs/IPC.md`; the UI switches on them, so they are a closed set.
 */
export type ErrorKind = "not_signed_in" | "session_expired" | "login_cancelled" | "login_timed_out" | "upstream" | "network" | "quota" | "port_in_use" | "invalid_input" | "io" | "internal";

/**
 * Every failure an action reports to a front end: `{kind, message}`, the message a
 * sentence for the user (never a stack trace, never a secret). Each source error type
 * owns its mapping below; the error is logged once, where it is built.
 */
export type CommandError = { 
/**
 * What went wrong, as a closed set the UI switches on.
 */
kind: ErrorKind, 
/**
 * A sentence for the user, shown as is.
 */
message: string, };
