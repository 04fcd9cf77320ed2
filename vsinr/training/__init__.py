"""Training of the learned methods: training material, the shared loop, and the one training entry."""
