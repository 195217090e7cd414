export * from '../../src/demo/throwaway-postgres.js';
