//! The token counts one response reports, whatever its dialect: Cursor's exact numbers
//! when the turn ended, or what is known so far (see `turn`'s module doc for the rule).

/// Token counts of one response. With `exact`, every number is Cursor's own count
/// (`TurnEndedUpdate`) and the cache and reasoning details are known; without it,
/// completion tokens are still Cursor's (Σ `token_delta`) but prompt tokens are inferred
/// from the checkpoint (context − completion) or estimated from the text (≈ 4 characters a
/// token), and the details are left out rather than guessed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Includes `cached_tokens` (OpenAI's convention).
    pub prompt_tokens: u64,
    /// Tokens the model produced in this response, reasoning included.
    pub completion_tokens: u64,
    /// Prompt tokens read from Cursor's cache.
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the cache (Anthropic's `cache_creation_input_tokens`).
    pub cache_write_tokens: Option<u64>,
    /// Completion tokens spent reasoning.
    pub reasoning_tokens: Option<u64>,
    /// The numbers are Cursor's count, not our inference.
    pub exact: bool,
    /// This step's prompt is left to the response in which Cursor's turn count arrives
    /// (`prompt_tokens` is 0 here, and the ledger stores no prompt count for it).
    pub prompt_deferred: bool,
}

impl Usage {
    /// What earlier responses of a run reported plus this one (for the next continuation).
    /// A sum is never labelled exact: it may mix estimates with Cursor's counts.
    pub(crate) fn plus(&self, o: &Usage) -> Usage {
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        Usage {
            prompt_tokens: self.prompt_tokens + o.prompt_tokens,
            completion_tokens: self.completion_tokens + o.completion_tokens,
            cached_tokens: add(self.cached_tokens, o.cached_tokens),
            cache_write_tokens: add(self.cache_write_tokens, o.cache_write_tokens),
            reasoning_tokens: add(self.reasoning_tokens, o.reasoning_tokens),
            exact: false,
            prompt_deferred: false,
        }
    }
}
