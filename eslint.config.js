// Lint rules that catch real bugs in async server code: floating promises, misused promises, and
// import cycles between modules (the data flow is one-way: event → features → infer → publish);
// and the layers of the packages (eslint.layers.js): no package imports one above it.
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";
import { importSettings, layerRules } from "./eslint.layers.js";

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "**/node_modules/**",
      "proto/src/gen/**",
      ".cache/**",
      "test/compat/java/**",
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ["./tsconfig.check.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { "import-x": importX },
    settings: importSettings,
    rules: {
      // node:test's describe/it return promises the runner awaits itself.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "import-x/no-cycle": "error",
      // A workspace is reached by its package name and public index, never by a relative path
      // into its folder (the layer rules below see only package names).
      "import-x/no-relative-packages": "error",
    },
  },
  ...layerRules,
  {
    // bench/kafka-clients/package.json only installs the optional clients the benchmark compares
    // (npm ci --prefix bench/kafka-clients); the benchmark's own modules beside it are not a package.
    files: ["bench/**"],
    rules: { "import-x/no-relative-packages": "off" },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
