import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: {
        // The engine is where data lives or dies: it must stay almost wholly covered.
        'src/engine/**': { statements: 95, lines: 95, functions: 95, branches: 85 },
        'src/migrations/**': { statements: 95, lines: 95, functions: 95, branches: 85 },
      },
    },
  },
});
