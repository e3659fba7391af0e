//! OpenAI Responses (`POST /v1/responses`) over the engine. Errors use OpenAI's shape
//! ([`super::openai_error`]).
