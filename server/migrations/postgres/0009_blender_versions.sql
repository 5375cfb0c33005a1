-- The Blender a node renders with (the first its agent found), the one that rendered each attempt, and the one a
-- check's checkers must run (empty: any). Another Blender version may not reproduce a frame bit for bit, so a
-- check goes to checkers running the worker's version whenever any is available.

ALTER TABLE nodes ADD COLUMN blender_version TEXT NOT NULL DEFAULT '';
ALTER TABLE task_attempts ADD COLUMN blender_version TEXT NOT NULL DEFAULT '';
ALTER TABLE verifications ADD COLUMN blender_version TEXT NOT NULL DEFAULT '';
