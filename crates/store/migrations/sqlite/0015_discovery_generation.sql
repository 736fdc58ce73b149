-- The discovery directory's generation (issue 19). SQLite dialect;
-- ../postgres/0015_discovery_generation.sql does the same with a trigger
-- function, so the two differ on purpose.
--
-- A counter that moves whenever something the directory shows of an
-- account may have changed: the accounts, their capabilities (listing, shop),
-- their products and stores, the providers and their privileges (featured
-- slots), the directory's configuration. Every node keeps the directory in
-- memory and reads this one row per view: when it moved, the node rebuilds,
-- so a change made anywhere (another node, the command line) shows at once.
-- Payments and shop orders do not move it: the ranking's sales and ratings
-- are re-read at most a second apart.
CREATE TABLE discovery_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL
);
INSERT INTO discovery_generation (id, n) VALUES (1, 0);

CREATE TRIGGER discovery_gen_mp_accounts_i AFTER INSERT ON mp_accounts BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_mp_accounts_u AFTER UPDATE ON mp_accounts BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_mp_accounts_d AFTER DELETE ON mp_accounts BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_capabilities_i AFTER INSERT ON account_capabilities BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_capabilities_u AFTER UPDATE ON account_capabilities BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_capabilities_d AFTER DELETE ON account_capabilities BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_shop_products_i AFTER INSERT ON shop_products BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_shop_products_u AFTER UPDATE ON shop_products BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_shop_products_d AFTER DELETE ON shop_products BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_stores_i AFTER INSERT ON stores BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_stores_u AFTER UPDATE ON stores BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_stores_d AFTER DELETE ON stores BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_merchants_i AFTER INSERT ON merchants BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_merchants_u AFTER UPDATE OF sp_mchid ON merchants BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_providers_i AFTER INSERT ON providers BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_providers_u AFTER UPDATE ON providers BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_privileges_i AFTER INSERT ON privilege_events BEGIN UPDATE discovery_generation SET n = n + 1; END;
CREATE TRIGGER discovery_gen_versions_i AFTER INSERT ON discovery_versions BEGIN UPDATE discovery_generation SET n = n + 1; END;
