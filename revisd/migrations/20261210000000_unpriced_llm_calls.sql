-- LLM calls (and coding-agent runs) whose price Revis does not know: their spend is shown as
-- unknown instead of being counted as $0.
ALTER TABLE sessions ADD COLUMN llm_unpriced_calls INTEGER NOT NULL DEFAULT 0;
