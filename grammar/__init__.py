"""The scenario grammar, shipped as package data (`scenario.lark`)."""
