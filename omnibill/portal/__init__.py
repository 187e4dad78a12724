"""The recipients' web app: documents behind their links, choices, one-click unsubscribe, opens."""
