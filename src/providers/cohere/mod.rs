//! Cohere v2 API: wire types and conversions to and from the unified types.
