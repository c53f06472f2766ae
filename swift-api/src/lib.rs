//! swift-api
