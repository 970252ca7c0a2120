use super::*;

#[test]
fn short_form_tags_read_as_their_long_forms() {
    let t = parse(
        "A: !Ref X\nB: !GetAtt T.Arn\nC: !Sub '${AWS::StackName}-x'\nD: !If [Cond, 1, !Ref AWS::NoValue]\n",
    )
    .unwrap();
    assert_eq!(t["A"], json!({"Ref": "X"}));
    assert_eq!(t["B"], json!({"Fn::GetAtt": ["T", "Arn"]}));
    assert_eq!(t["C"], json!({"Fn::Sub": "${AWS::StackName}-x"}));
    assert_eq!(
        t["D"],
        json!({"Fn::If": ["Cond", 1, {"Ref": "AWS::NoValue"}]})
    );
    assert!(is_no_value(&t["D"]["Fn::If"][2]));
}

#[test]
fn not_yaml_is_an_error_not_a_panic() {
    assert!(parse("a: [unclosed").is_err());
}
