"""A plugin whose import raises: lamina must report it and keep the others working."""

raise RuntimeError("boom: lamina_fake_broken cannot be imported")
