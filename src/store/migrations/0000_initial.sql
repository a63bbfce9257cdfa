CREATE TABLE `sandboxes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`profile` text NOT NULL,
	`backend` text NOT NULL,
	`labels` text NOT NULL,
	`spec` text NOT NULL,
	`launch` text,
	`lifecycle_state` text NOT NULL,
	`status` text NOT NULL,
	`image_digest` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sandboxes_id` ON `sandboxes` (`id`);--> statement-breakpoint
CREATE INDEX `sandboxes_tenant_state` ON `sandboxes` (`tenant_id`,`lifecycle_state`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`tenant_id` text NOT NULL,
	`target_kind` text NOT NULL,
	`target_id` text NOT NULL,
	`channels` text NOT NULL,
	`requested_ttl_ms` integer NOT NULL,
	`granted_ttl_ms` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`target_snapshot` text NOT NULL,
	`state` text NOT NULL,
	`closed_at` integer,
	`close_reason` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sessions_id` ON `sessions` (`id`);--> statement-breakpoint
CREATE INDEX `sessions_tenant_state` ON `sessions` (`tenant_id`,`state`);--> statement-breakpoint
CREATE INDEX `sessions_open_expiry` ON `sessions` (`state`,`expires_at`);--> statement-breakpoint
CREATE INDEX `sessions_target` ON `sessions` (`target_kind`,`target_id`);--> statement-breakpoint
CREATE TABLE `tenant_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tenant_tokens_hash` ON `tenant_tokens` (`hash`);--> statement-breakpoint
CREATE INDEX `tenant_tokens_tenant` ON `tenant_tokens` (`tenant_id`);--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`display_name` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `images` (
	`reference` text PRIMARY KEY NOT NULL,
	`digest` text NOT NULL,
	`manifest_digest` text NOT NULL,
	`config_digest` text NOT NULL,
	`config` text NOT NULL,
	`layers` text NOT NULL,
	`blobs` text NOT NULL,
	`size` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `layers` (
	`diff_id` text PRIMARY KEY NOT NULL,
	`blob_digest` text,
	`size` integer NOT NULL,
	`unpacked_at` integer NOT NULL
);
