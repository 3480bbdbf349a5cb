// The React example: the platform's create-course form in miniature (react-hook-form, Russian
// labels and messages), wired to the draft session with useDraftSession. `make dev` serves it at
// /react/ on the reference page's origin, whose /config.json names the API and a development token.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { CreateCourseForm, type PageConfig } from './CreateCourseForm.js';
import '../../create-course/form.css';  // one look for both reference forms; esbuild writes it to dist/app.css

const config = await fetch('/config.json', { cache: 'no-store' }).then((r) => r.json()) as PageConfig;
// #token=<JWT> in the address overrides the development token (e.g. a real Supabase access token).
const token = new URLSearchParams(location.hash.slice(1)).get('token') || config.token;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <CreateCourseForm config={config} getToken={() => token} />
  </StrictMode>,
);
