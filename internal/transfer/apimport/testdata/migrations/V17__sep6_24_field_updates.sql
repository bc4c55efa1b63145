ALTER TABLE sep6_transaction ADD user_action_required_by TIMESTAMP WITHOUT TIME ZONE;
ALTER TABLE sep24_transaction ADD user_action_required_by TIMESTAMP WITHOUT TIME ZONE;
ALTER TABLE sep31_transaction ADD user_action_required_by TIMESTAMP WITHOUT TIME ZONE;