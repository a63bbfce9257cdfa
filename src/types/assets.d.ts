// Files bundled into the binary with `with { type: "file" }` / `{ type: "text" }` imports.
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
