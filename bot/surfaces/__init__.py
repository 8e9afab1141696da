"""The surfaces, each thin: Slack (Bolt and the HTTP front), the REST API and the console.
Each turns a request into a call of the surface-neutral dispatcher (bot/commands/) and
its answer back."""
