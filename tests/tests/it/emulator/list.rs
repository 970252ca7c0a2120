//! `/identity_verification/list`: newest first, paged with a cursor.

use super::*;

#[tokio::test]
async fn list_pages_newest_first_with_a_cursor() {
    let emu = start().await;
    let mut ids = vec![
        create(&emu, "u-list", json!({})).await["id"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    for _ in 0..4 {
        let (status, v) = plaid(
            &emu,
            IDV_RETRY,
            json!({"client_user_id": "u-list", "template_id": TPL, "strategy": "reset"}),
        )
        .await;
        assert_eq!(status, 200);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    create(&emu, "someone-else", json!({})).await;
    ids.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"template_id": TPL, "client_user_id": "u-list"});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let (status, v) = plaid(&emu, IDV_LIST, body).await;
        assert_eq!(status, 200, "{v}");
        pages += 1;
        let items = v["identity_verifications"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            assert!(
                item.get("request_id").is_none(),
                "list items carry no request_id"
            );
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert_eq!(v["next_cursor"], Value::Null);
                break;
            }
        }
        assert!(pages < 10, "cursor loop");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every session once, newest first");

    let (status, v) = plaid(
        &emu,
        IDV_LIST,
        json!({"template_id": TPL, "client_user_id": "u-list", "cursor": "garbage"}),
    )
    .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let (status, v) = plaid(&emu, IDV_LIST, json!({"client_user_id": "u-list"})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("MISSING_FIELDS"))
    );
    let (_, v) = plaid(
        &emu,
        IDV_LIST,
        json!({"template_id": TPL2, "client_user_id": "u-list"}),
    )
    .await;
    assert_eq!(v["identity_verifications"], json!([]));
    assert_eq!(v["next_cursor"], Value::Null);
}
