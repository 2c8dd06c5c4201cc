// ESM entry of @enttok/backend/renderer (the CommonJS implementation re-exported; bundlers such as
// Vite and esbuild resolve this import in a page).
import renderer from './renderer.js';

export const { createBackendClient, createTransport, exposeBackendTransport, MAIN_ONLY_METHODS, DEFAULT_CHANNEL } = renderer;
export default renderer;
