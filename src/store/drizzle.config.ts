import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: ["./src/store/schema.ts", "./src/images/schema.ts"],
  out: "./src/store/migrations",
});
