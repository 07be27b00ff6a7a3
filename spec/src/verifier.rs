//! load-time checks
