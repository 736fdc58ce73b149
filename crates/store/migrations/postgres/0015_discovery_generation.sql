-- The discovery directory's generation (issue 19). PostgreSQL dialect;
-- ../sqlite/0015_discovery_generation.sql explains it. One statement-level
-- trigger per table runs one function.
CREATE TABLE discovery_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO discovery_generation (id, n) VALUES (1, 0);

CREATE FUNCTION discovery_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE discovery_generation SET n = n + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER discovery_gen AFTER INSERT OR UPDATE OR DELETE ON mp_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT OR UPDATE OR DELETE ON account_capabilities
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT OR UPDATE OR DELETE ON shop_products
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT OR UPDATE OR DELETE ON stores
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT OR UPDATE OF sp_mchid ON merchants
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT OR UPDATE ON providers
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT ON privilege_events
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
CREATE TRIGGER discovery_gen AFTER INSERT ON discovery_versions
    FOR EACH STATEMENT EXECUTE FUNCTION discovery_generation_bump();
