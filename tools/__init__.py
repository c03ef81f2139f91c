"""Developer tools: the local cloud, its clients, the demo."""
