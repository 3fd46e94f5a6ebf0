//! Mock servers speaking each provider's own wire format, scripted like `mock_provider`.

pub mod anthropic;
pub mod cohere;
pub mod gemini;
