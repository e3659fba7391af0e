// Generated from core/src/app/ipc.rs (the IPC contract, docs/IPC.md) by ts-rs.
// Do not edit: change the Rust types and run `UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types`.

/**
 * `ProxyState` in the contract.
 */
export type ProxyState = "running" | "stopped" | "error";

/**
 * Who is signed in (`plan` stays `null`: Cursor's `GetMe` does not name the plan).
 */
export type Account = { email: string | null, plan: string | null, };

/**
 * The proxy part of [`Status`].
 */
export type ProxyStatus = { state: ProxyState, host: string, port: number, 
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
export type Status = { signedIn: boolean, account: Account | null, proxy: ProxyStatus, 
/**
 * Read back from the OS, never remembered.
 */
launchAtLogin: boolean, version: string, 
/**
 * The `x-cursor-client-version` Cursor is sent, and where it came from.
 */
clientVersion: ClientVersion, 
/**
 * The browser sign-in waiting for approval, if any.
 */
signIn: SignInProgress | null, };

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
export type Model = { id: string, name: string, aliases: Array<string>, reasoning: boolean, supportsImages: boolean | null, contextLimit: number, outputLimit: number, limitSource: LimitSource, };

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
export type Settings = { host: string, port: number, defaultModel: string, startProxyOnLaunch: boolean, requireApiKey: boolean, 
/**
 * How agent runs reach Cursor: `"http2"` or `"http1"` (setting `agent_transport`).
 * Text, not the enum, so an unknown value is an `invalid_input` naming the field
 * (like `host`) rather than a deserialization failure outside the contract.
 */
agentTransport: AgentTransport, };

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
export type UsageTotals = { requests: number, errors: number, promptTokens: number, completionTokens: number, 
/**
 * Sums over the rows that know them (Cursor's count); part of `prompt_tokens`.
 */
cacheReadTokens: number, cacheWriteTokens: number, 
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
bucketStart: number, model: string, requests: number, errors: number, promptTokens: number, completionTokens: number, cacheReadTokens: number, cacheWriteTokens: number, reasoningTokens: number, 
/**
 * Requests in this bucket whose token counts are estimates.
 */
estimatedRequests: number, };

/**
 * Usage over a range, shaped exactly as `UsageReport` in `docs/IPC.md`.
 */
export type UsageReport = { range: Range, bucket: Bucket, generatedAt: number, totals: UsageTotals, series: Array<UsagePoint>, latency: Latency, errorsByKind: Array<ErrorCount>, 
/**
 * False when some token counts in the range are estimates.
 */
tokensExact: boolean, };

/**
 * Nearest-rank percentiles of successful requests; `None` (`null`) without samples.
 */
export type Latency = { ttftP50Ms: number | null, ttftP95Ms: number | null, totalP50Ms: number | null, totalP95Ms: number | null, };

/**
 * How many errors of one kind.
 */
export type ErrorCount = { kind: string, count: number, };

/**
 * Cursor's own plan numbers for the billing cycle (they lag real use by about a minute).
 * A figure Cursor did not send is `null`, never 0 (reference §9.11).
 */
export type PlanUsage = { spentCents: number | null, 
/**
 * The plan's limit; `null` when Cursor sent none (or 0).
 */
includedCents: number | null, remainingCents: number | null, 
/**
 * Share of the whole plan used, %: Cursor's `totalPercentUsed`, else computed from
 * the cents when there is a limit.
 */
totalPercentUsed: number | null, 
/**
 * Both pools (Auto + Composer, API models) when Cursor reports either; else empty.
 */
pools: Array<PlanPool>, cycleStart: number | null, cycleEnd: number | null, fetchedAt: number, };

/**
 * One pool of the plan.
 */
export type PlanPool = { 
/**
 * `auto` or `api`.
 */
id: string, label: string, 
/**
 * `null` when Cursor did not report this pool.
 */
percentUsed: number | null, };

/**
 * One failed request, for the UI's error list (`RecentError` in `docs/IPC.md`).
 */
export type RecentError = { 
/**
 * When the request started, Unix milliseconds.
 */
at: number, kind: string, 
/**
 * A sentence for the user, built from the kind, model and status (the ledger stores
 * no free text, so no prompt or secret can end up here).
 */
message: string, };

/**
 * The OpenCode provider block, pretty-printed, and the base URL it points at.
 */
export type OpencodeSnippet = { text: string, baseUrl: string, };

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
 * The kinds of `docs/IPC.md`; the UI switches on them, so they are a closed set.
 */
export type ErrorKind = "not_signed_in" | "session_expired" | "login_cancelled" | "login_timed_out" | "upstream" | "network" | "quota" | "port_in_use" | "invalid_input" | "io" | "internal";

/**
 * Every failure an action reports to a front end: `{kind, message}`, the message a
 * sentence for the user (never a stack trace, never a secret). Each source error type
 * owns its mapping below; the error is logged once, where it is built.
 */
export type CommandError = { kind: ErrorKind, message: string, };
