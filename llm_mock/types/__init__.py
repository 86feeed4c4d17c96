"""Import paths of the project llm_mock replaces (`llm_mock.types.rule`, `llm_mock.types.reply`)."""
