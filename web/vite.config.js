// The chat page is served by the server itself (`--web-dir web/dist`), possibly under a path
// prefix behind a proxy, so every URL in the built page is relative. Hashed files go to
// `assets/`: the server caches exactly that directory as immutable.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: true,
  },
});
