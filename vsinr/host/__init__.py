"""What a method plugin tells the host (the plugin contract), its hooks, and the plugin registry."""
