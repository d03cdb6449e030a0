"""Messaging: notifications, mail rendered into the outbox and delivered, webhooks."""
