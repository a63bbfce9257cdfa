DROP INDEX `sandboxes_tenant_state`;--> statement-breakpoint
CREATE INDEX `sandboxes_tenant_seq` ON `sandboxes` (`tenant_id`,`seq`);--> statement-breakpoint
CREATE INDEX `sandboxes_tenant_state_seq` ON `sandboxes` (`tenant_id`,`lifecycle_state`,`seq`);--> statement-breakpoint
CREATE INDEX `sessions_tenant_seq` ON `sessions` (`tenant_id`,`seq`);