"""Neural building blocks shared by the method plugins (imports torch: plugins import it lazily)."""
