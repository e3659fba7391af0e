// Usage: our own ledger (live; Cursor's exact counts, or estimates marked as such) and
// Cursor's plan numbers (lagging).
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Screen } from '../screens';
import { StackedBars, type ChartSeries } from '../components/Chart';
import { Card, ErrorNotice } from '../components/common';
import { GuardCard } from './GuardCard';
import { PlanCard } from './PlanCard';
import { compactNumber, grouped, hhmm, millis } from '../format';
import {
  planUsage,
  startProxy,
  usageReport,
  type PlanUsage,
  type Range,
  type SplitUsage,
  type Status,
  type UsageReport,
} from '../ipc';

const RANGES: { id: Range; label: string; ms: number }[] = [
  { id: '24h', label: '24 h', ms: 24 * 3600e3 },
  { id: '7d', label: '7 d', ms: 7 * 24 * 3600e3 },
  { id: '30d', label: '30 d', ms: 30 * 24 * 3600e3 },
];
const BUCKET_MS = { hour: 3600e3, day: 24 * 3600e3 } as const;
// Distinguishable in light and dark themes; the same model keeps its colour across charts.
const PALETTE = ['#4f7cff', '#f28c28', '#2fb57c', '#d64f8a', '#8e6cf0', '#c9a227', '#2aa9c9', '#9a9a9a'];

/** What the charts stack: one bar segment per model (as before), per client or per dialect. */
export type Split = 'model' | 'client' | 'dialect';
const SPLITS: { id: Split; label: string }[] = [
  { id: 'model', label: 'Model' },
  { id: 'client', label: 'Client' },
  { id: 'dialect', label: 'Dialect' },
];
// The APIs by the names their users know them by.
const DIALECTS: Record<string, string> = {
  chat: 'Chat Completions',
  messages: 'Anthropic Messages',
  responses: 'OpenAI Responses',
};

/**
 * How a client or dialect key reads. A request without a User-Agent has no client name;
 * parentheses keep that apart from any real name (client names never contain them).
 */
export function keyLabel(split: Split, key: string | null): string {
  if (key == null) return '(unknown)';
  return split === 'dialect' ? (DIALECTS[key] ?? key) : key;
}

interface Stacked {
  bucketStart: number;
  label: string;
  requests: number;
  tokens: number;
}

/** The report's bucket points for one split, each under its label. */
export function pointsOf(r: UsageReport, split: Split): Stacked[] {
  const tokens = (p: { promptTokens: number; completionTokens: number }) => p.promptTokens + p.completionTokens;
  if (split === 'model') {
    return r.series.map((p) => ({ bucketStart: p.bucketStart, label: p.model, requests: p.requests, tokens: tokens(p) }));
  }
  const points = split === 'client' ? r.seriesByClient : r.seriesByDialect;
  return points.map((p) => ({
    bucketStart: p.bucketStart,
    label: keyLabel(split, p.key),
    requests: p.requests,
    tokens: tokens(p),
  }));
}

interface Shaped {
  xs: number[];
  requests: ChartSeries[];
  tokens: ChartSeries[];
  range: [number, number];
}

/** Pivots bucket × model (or client, or dialect) points into aligned arrays for the charts. */
export function shapeSeries(r: UsageReport, split: Split = 'model'): Shaped {
  const points = pointsOf(r, split);
  const xs = [...new Set(points.map((p) => p.bucketStart))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const totals = new Map<string, number>();
  for (const p of points) totals.set(p.label, (totals.get(p.label) ?? 0) + p.requests);
  const labels = [...totals.keys()].sort((a, b) => totals.get(b)! - totals.get(a)! || a.localeCompare(b));
  const req = new Map(labels.map((m) => [m, new Array<number>(xs.length).fill(0)]));
  const tok = new Map(labels.map((m) => [m, new Array<number>(xs.length).fill(0)]));
  for (const p of points) {
    const i = index.get(p.bucketStart)!;
    req.get(p.label)![i] += p.requests;
    tok.get(p.label)![i] += p.tokens;
  }
  const color = (i: number) => PALETTE[i % PALETTE.length];
  const span = RANGES.find((x) => x.id === r.range)?.ms ?? 24 * 3600e3;
  const step = BUCKET_MS[r.bucket];
  const start = Math.min(r.generatedAt - span, xs[0] ?? Infinity);
  const end = Math.max(r.generatedAt, (xs[xs.length - 1] ?? -Infinity) + step);
  return {
    xs,
    requests: labels.map((m, i) => ({ label: m, color: color(i), values: req.get(m)! })),
    tokens: labels.map((m, i) => ({ label: m, color: color(i), values: tok.get(m)! })),
    range: [start, end],
  };
}

export function UsageView(props: { status: Status; onStatus: (s: Status) => void; onGo: (s: Screen) => void }) {
  const [range, setRange] = useState<Range>('24h');
  const [split, setSplit] = useState<Split>('model');
  const [report, setReport] = useState<UsageReport | null>(null);
  const [reportError, setReportError] = useState<unknown>(null);
  const [plan, setPlan] = useState<PlanUsage | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);

  async function loadReport(r: Range) {
    setReportError(null);
    try {
      setReport(await usageReport(r));
    } catch (e) {
      setReportError(e);
    }
  }
  async function loadPlan() {
    setPlanError(null);
    try {
      setPlan(await planUsage());
    } catch (e) {
      setPlanError(e);
    }
  }

  useEffect(() => {
    void loadReport(range);
  }, [range]);
  useEffect(() => {
    if (props.status.signedIn) void loadPlan();
  }, [props.status.signedIn]);

  const shaped = useMemo(() => (report ? shapeSeries(report, split) : null), [report, split]);
  const empty = report != null && report.totals.requests === 0;
  const est = report && !report.tokensExact;
  const t = report?.totals;
  const tokenFmt = (v: number) => compactNumber(Math.round(v));

  return (
    <>
      <div class="title-row">
        <h1>Usage</h1>
        <Segmented label="Time range" options={RANGES} value={range} onChange={setRange} />
      </div>

      <PlanCard plan={plan} error={planError} signedIn={props.status.signedIn} onRetry={loadPlan} />
      <GuardCard status={props.status} />

      <ErrorNotice error={reportError} onRetry={() => loadReport(range)} />
      {!report && !reportError && <p class="muted">Loading usage…</p>}

      {empty && <EmptyState status={props.status} onStatus={props.onStatus} onGo={props.onGo} />}

      {report && shaped && !empty && (
        <>
          <p class="source-line">
            <span class="source">Local ledger — live</span>{' '}
            <span class="muted">updated {hhmm(report.generatedAt)}</span>
            {est ? (
              <span
                class="badge badge-warn"
                data-testid="tokens-counted"
                title="Cursor sent no token count for these requests: prompt tokens are inferred from the context size or estimated at about 4 characters a token"
              >
                tokens estimated for {grouped(t!.estimatedRequests)} of {grouped(t!.requests)} requests
              </span>
            ) : (
              <span class="badge" data-testid="tokens-counted" title="Every token count is Cursor's own">
                tokens exact
              </span>
            )}
          </p>
          <div class="stats">
            <Stat label="Requests" value={grouped(t!.requests)} />
            <Stat label="Errors" value={grouped(t!.errors)} />
            <Stat
              label="Prompt tokens"
              value={`${est ? '≈ ' : ''}${compactNumber(t!.promptTokens)}`}
              detail={`${compactNumber(t!.cacheReadTokens)} cached`}
              title={`Prompt tokens read from Cursor's cache; ${grouped(t!.cacheWriteTokens)} written to it. Known only for requests Cursor counted.`}
            />
            <Stat
              label="Completion tokens"
              value={compactNumber(t!.completionTokens)}
              detail={`${compactNumber(t!.reasoningTokens)} reasoning`}
              title="Completion tokens spent on reasoning. Known only for requests Cursor counted."
            />
          </div>

          <div class="split-row">
            <span class="muted" aria-hidden="true">
              Split charts by
            </span>
            <Segmented label="Split charts by" options={SPLITS} value={split} onChange={setSplit} />
          </div>

          <Card title={`Requests by ${split}`} id="chart-requests" source="Local ledger — live">
            <StackedBars
              label={`Requests per ${report.bucket} by ${split}`}
              xs={shaped.xs}
              series={shaped.requests}
              range={shaped.range}
              bucket={report.bucket}
              format={(v) => compactNumber(Math.round(v))}
            />
          </Card>

          <Card
            title={`Tokens by ${split}${est ? ' (estimated)' : ''}`}
            id="chart-tokens"
            source={est ? 'Local ledger — live, some counts estimated' : 'Local ledger — live'}
          >
            <StackedBars
              label={`Prompt and completion tokens per ${report.bucket} by ${split}`}
              xs={shaped.xs}
              series={shaped.tokens}
              range={shaped.range}
              bucket={report.bucket}
              format={tokenFmt}
            />
          </Card>

          <Card title="By client" id="by-client" source="Local ledger — live">
            <SplitTable split="client" rows={report.byClient} />
          </Card>

          <div class="grid-2">
            <Card title="Latency" id="latency" source="Local ledger — live">
              <dl class="facts">
                <dt>Time to first token p50</dt>
                <dd>{millis(report.latency.ttftP50Ms)}</dd>
                <dt>Time to first token p95</dt>
                <dd>{millis(report.latency.ttftP95Ms)}</dd>
                <dt>Total p50</dt>
                <dd>{millis(report.latency.totalP50Ms)}</dd>
                <dt>Total p95</dt>
                <dd>{millis(report.latency.totalP95Ms)}</dd>
              </dl>
            </Card>
            <Card title="Errors by kind" id="errors-by-kind" source="Local ledger — live">
              <ErrorsByKind items={report.errorsByKind} />
            </Card>
          </div>
        </>
      )}
    </>
  );
}

/** One choice of a few, as a row of toggle buttons; `label` names the group. */
function Segmented<T extends string>(props: {
  label: string;
  options: { id: T; label: string }[];
  value: T;
  onChange: (v: T) => void;
}) {
  return (
    <div class="segmented" role="group" aria-label={props.label}>
      {props.options.map((o) => (
        <button type="button" key={o.id} aria-pressed={props.value === o.id} onClick={() => props.onChange(o.id)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}

/** Requests, tokens and errors per client (or dialect) over the range, busiest first. */
function SplitTable(props: { split: Split; rows: SplitUsage[] }) {
  const head = props.split === 'client' ? 'Client' : 'Dialect';
  return (
    <table class="split-table">
      <thead>
        <tr>
          <th scope="col">{head}</th>
          <th scope="col">Requests</th>
          <th scope="col">Prompt</th>
          <th scope="col">Completion</th>
          <th scope="col">Errors</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => (
          <tr key={r.key ?? ''}>
            <th scope="row">{keyLabel(props.split, r.key)}</th>
            <td>{grouped(r.requests)}</td>
            <td title={r.estimatedRequests > 0 ? `estimated for ${grouped(r.estimatedRequests)} requests` : undefined}>
              {`${r.estimatedRequests > 0 ? '≈ ' : ''}${compactNumber(r.promptTokens)}`}
            </td>
            <td>{compactNumber(r.completionTokens)}</td>
            <td>{grouped(r.errors)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A big number; `detail` is a part of it (e.g. the cached share), shown beneath. */
function Stat(props: { label: string; value: string; detail?: string; title?: string }) {
  return (
    <div class="stat" title={props.title}>
      <div class="stat-value">{props.value}</div>
      <div class="stat-label">{props.label}</div>
      {props.detail && <div class="stat-detail">{props.detail}</div>}
    </div>
  );
}

function ErrorsByKind(props: { items: { kind: string; count: number }[] }) {
  if (props.items.length === 0) return <p class="muted">No errors in this period.</p>;
  const max = Math.max(...props.items.map((i) => i.count));
  return (
    <ul class="hbars">
      {[...props.items]
        .sort((a, b) => b.count - a.count)
        .map((i) => (
          <li key={i.kind}>
            <span class="hbar-label">{i.kind}</span>
            <span class="hbar-track" aria-hidden="true">
              <span class="hbar" style={{ width: `${(i.count / max) * 100}%` }} />
            </span>
            <span class="hbar-value">{i.count}</span>
          </li>
        ))}
    </ul>
  );
}

function EmptyState(props: { status: Status; onStatus: (s: Status) => void; onGo: (s: Screen) => void }) {
  const running = props.status.proxy.state === 'running';
  const [err, setErr] = useState<unknown>(null);
  return (
    <Card title="No requests yet" id="usage-empty" source="Local ledger — live">
      <p>Charts appear here after your first request through Cursor Bridge. To get there:</p>
      <ol class="steps">
        {!props.status.signedIn && (
          <li>
            <button type="button" class="link" onClick={() => props.onGo('account')}>
              Sign in with Cursor
            </button>
            .
          </li>
        )}
        <li>
          {running ? (
            <>
              The proxy is running at <code>{props.status.proxy.baseUrl}</code>.
            </>
          ) : (
            <>
              Start the proxy:{' '}
              <button
                type="button"
                onClick={() => startProxy().then(props.onStatus, setErr)}
              >
                Start proxy
              </button>
            </>
          )}
        </li>
        <li>
          Copy the OpenCode config (or add it to OpenCode in one click) in{' '}
          <button type="button" class="link" onClick={() => props.onGo('settings')}>
            Settings
          </button>
          .
        </li>
        <li>
          Run <code>opencode</code> and pick a Cursor Bridge model with <code>/models</code>.
        </li>
      </ol>
      <ErrorNotice error={err} />
    </Card>
  );
}
