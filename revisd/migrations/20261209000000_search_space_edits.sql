-- The hybrid advisor's model may widen or narrow the search space: the edits of the decision
-- that made a trial (a JSON list of {param, low, high, values}), applied in trial order on top
-- of revis.yaml's search.space. NULL when the decision edited nothing.
ALTER TABLE iterations ADD COLUMN space_json TEXT;
