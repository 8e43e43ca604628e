import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "data/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    // The protocol layer runs in Node and in browsers: no Node built-ins, no upper layers.
    files: ["src/protocol/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "src/protocol must stay runtime-neutral (no node: modules)." },
            {
              group: ["**/server/**", "**/client/**", "**/cli/**", "**/platform/**"],
              message: "src/protocol must not import upper layers.",
            },
          ],
        },
      ],
    },
  },
);
