//! archipelago
