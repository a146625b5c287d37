// esbuild bundles CSS imports into the one stylesheet.
declare module "*.css";
