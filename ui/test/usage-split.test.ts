// The Usage view's split logic: which points each split stacks, and how keys read.
import { describe, expect, it } from 'vitest';
import { keyLabel, pointsOf, shapeSeries } from '../src/views/Usage';
import { report } from './backend';

const t0 = Date.UTC(2026, 10, 20, 10);

describe('usage splits', () => {
  it('unknown clients and dialects read plainly; a real client named "unknown" stays apart', () => {
    expect(keyLabel('client', 'opencode')).toBe('opencode');
    expect(keyLabel('client', null)).toBe('(unknown)');
    expect(keyLabel('client', 'unknown')).toBe('unknown');
    expect(keyLabel('dialect', 'chat')).toBe('Chat Completions');
    expect(keyLabel('dialect', 'messages')).toBe('Anthropic Messages');
    expect(keyLabel('dialect', 'responses')).toBe('OpenAI Responses');
    // A dialect this UI does not know yet (a newer backend) shows its key, not nothing.
    expect(keyLabel('dialect', 'gemini')).toBe('gemini');
  });

  it('each split stacks its own series; tokens are prompt + completion', () => {
    const r = report({
      seriesByClient: [
        { bucketStart: t0, key: 'opencode', requests: 1, errors: 0, promptTokens: 10, completionTokens: 1 },
        { bucketStart: t0, key: null, requests: 3, errors: 1, promptTokens: 30, completionTokens: 3 },
        { bucketStart: t0 + 3600e3, key: 'opencode', requests: 2, errors: 0, promptTokens: 20, completionTokens: 2 },
      ],
    });
    expect(pointsOf(r, 'model').map((p) => p.label)).toEqual(['claude-4.5-sonnet', 'gpt-5']);
    expect(pointsOf(r, 'dialect').map((p) => p.label)).toEqual(['Chat Completions', 'Anthropic Messages']);
    expect(pointsOf(r, 'client')).toEqual([
      { bucketStart: t0, label: 'opencode', requests: 1, tokens: 11 },
      { bucketStart: t0, label: '(unknown)', requests: 3, tokens: 33 },
      { bucketStart: t0 + 3600e3, label: 'opencode', requests: 2, tokens: 22 },
    ]);

    const shaped = shapeSeries(r, 'client');
    expect(shaped.xs).toEqual([t0, t0 + 3600e3]);
    // Busiest first (3 vs 3 requests: ties by label), each aligned on the buckets.
    expect(shaped.requests.map((s) => [s.label, s.values])).toEqual([
      ['(unknown)', [3, 0]],
      ['opencode', [1, 2]],
    ]);
    expect(shaped.tokens.map((s) => s.values)).toEqual([
      [33, 0],
      [11, 22],
    ]);
    // The default split is by model, as the view was before the splits.
    expect(shapeSeries(r).requests.map((s) => s.label)).toEqual(['claude-4.5-sonnet', 'gpt-5']);
  });
});
