"""Small pieces the action-server packages share (knowledge_base, bookings, actions)."""
