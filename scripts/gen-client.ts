/** `npm run gen:client`: (re)writes clients/ts/schema.ts from the route declarations (scripts/client-schema.ts). */
import { writeFileSync } from 'node:fs';
import { CLIENT_SCHEMA_PATH, generateClientSchema } from './client-schema';

writeFileSync(CLIENT_SCHEMA_PATH, await generateClientSchema());
console.log(`wrote ${CLIENT_SCHEMA_PATH}`);
