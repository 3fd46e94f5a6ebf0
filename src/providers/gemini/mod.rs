//! Google Gemini API: wire types and conversions to and from the unified types.
