"""The course purge (DESIGN.md rule 4): the durable queue's worker and its steps, the API's purge,
the orphan sweep, and the registry of the stores a course owns data in (stores/)."""
