"""Episode notifications: what changed, an outbox that never loses a message, and its delivery."""
